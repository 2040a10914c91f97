// The real nodes' environment is read by the simulation (infra/sim/real-nodes-env.ts), shared with the demo.
export { type RealNode, type RealNodesEnv, realNodes } from '../../infra/sim/real-nodes-env.js';
