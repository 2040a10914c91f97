import type { EC2Client } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createEc2Client, createS3Client, createSqsClient } from '../../services/common/aws.js';
import { type ConfigOf, commonSettings, readConfig } from '../../services/common/config.js';
import { loadKubeConfig } from '../../services/common/kube.js';

/**
 * Simulation only. In a cluster each service builds its own clients from its
 * settings; the demo and the dashboard render drive the local stack from
 * outside, with the endpoints `infra/stack env` exports (moto, the local
 * kube-apiserver).
 */

type CommonConfig = ConfigOf<typeof commonSettings>;

/** The local stack's clients, from its environment (`infra/stack env`). */
export interface StackClients {
  config: CommonConfig;
  kc: KubeConfig;
  core: CoreV1Api;
  ec2: EC2Client;
  s3: S3Client;
  sqs: SQSClient;
}

export function localStackClients(config: CommonConfig = readConfig(commonSettings)): StackClients {
  if (!config.awsEndpoint || !config.kubeconfig)
    throw new Error('the local stack environment is missing: eval "$(infra/stack env)" first');
  const kc = loadKubeConfig(config.kubeconfig);
  return {
    config,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    ec2: createEc2Client(config),
    s3: createS3Client(config),
    sqs: createSqsClient(config),
  };
}
