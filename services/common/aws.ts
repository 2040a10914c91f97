import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface AwsSettings {
  awsRegion: string;
  awsEndpoint?: string | undefined;
}

/**
 * Client options shared by every AWS client. With an endpoint override all
 * clients talk to the local stack (moto); credentials still come from the
 * default provider chain (environment, Pod Identity, IRSA).
 */
export function awsClientConfig(s: AwsSettings) {
  return {
    region: s.awsRegion,
    ...(s.awsEndpoint ? { endpoint: s.awsEndpoint } : {}),
    maxAttempts: 3,
  };
}

export const createSqsClient = (s: AwsSettings) => new SQSClient(awsClientConfig(s));
// Path-style keeps bucket names out of DNS, which the local stack needs.
export const createS3Client = (s: AwsSettings) =>
  new S3Client({ ...awsClientConfig(s), forcePathStyle: Boolean(s.awsEndpoint) });
export const createEc2Client = (s: AwsSettings) => new EC2Client(awsClientConfig(s));
export const createAutoScalingClient = (s: AwsSettings) => new AutoScalingClient(awsClientConfig(s));
