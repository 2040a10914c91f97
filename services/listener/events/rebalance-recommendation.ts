import { z } from 'zod';
import { eventBridgeEvent, instanceId, isEventBridge, timeOrReceipt } from './fields.js';
import { act, eventSource, ignore } from './source.js';

const DETAIL_TYPE = 'EC2 Instance Rebalance Recommendation';

/** No deadline: AWS only says the instance is at elevated risk. The configured policy decides. */
export const rebalanceRecommendation = eventSource({
  name: DETAIL_TYPE,
  matches: (m) => isEventBridge(m, 'aws.ec2', [DETAIL_TYPE]),
  schema: eventBridgeEvent(z.literal(DETAIL_TYPE), z.object({ 'instance-id': instanceId })),
  decide: (e, { config, now }) => {
    if (config.rebalancePolicy === 'ignore') {
      return ignore(
        'rebalance recommendation and the rebalance policy is ignore',
        'rebalance-recommendation',
      );
    }
    const { time, oddFields } = timeOrReceipt(e.time, now);
    return act(
      {
        kind: 'rebalance-recommendation',
        eventId: e.id,
        instanceIds: [e.detail['instance-id']],
        deadline: null,
        eventTime: time.toISOString(),
        response: config.rebalancePolicy === 'migrate' ? 'drain' : 'cordon',
      },
      oddFields,
    );
  },
});
