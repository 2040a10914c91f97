import { S3Client } from '@aws-sdk/client-s3';
import type { ArchiveCredentials } from '../common/agent-api.js';
import { type AwsSettings, awsClientConfig } from '../common/aws.js';

/**
 * The agent's S3 client. Every stored archive is sha256-verified end to end
 * against its manifest, so the SDK's own per-request checksums (CRC32 in
 * JavaScript, and aws-chunked streaming bodies) would only spend CPU that the
 * dump and zstd need; S3 still checks what the protocol requires. A stalled
 * request must end too: lib-storage does not cancel parts already in flight
 * when an upload is aborted.
 */
export function createAgentS3Client(
  s: AwsSettings & { requestTimeoutSeconds: number },
  credentials?: ArchiveCredentials,
): S3Client {
  return new S3Client({
    ...awsClientConfig(s),
    // A session the worker obtained for one operation; without it, the default provider chain.
    ...(credentials
      ? {
          credentials: {
            accessKeyId: credentials.accessKeyId,
            secretAccessKey: credentials.secretAccessKey,
            sessionToken: credentials.sessionToken,
            expiration: new Date(credentials.expiration),
          },
        }
      : {}),
    forcePathStyle: Boolean(s.awsEndpoint),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { requestTimeout: s.requestTimeoutSeconds * 1000, connectionTimeout: 5_000 },
  });
}
