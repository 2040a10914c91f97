import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { ArchiveCredentials } from '../common/agent-api.js';
import { type AwsSettings, awsClientConfig } from '../common/aws.js';
import {
  type ArchiveOperation,
  archiveSessionPolicy,
  partitionOf,
  sessionName,
  sessionSeconds,
} from './archive-session-policy.js';

export interface ArchiveAccessRequest {
  operation: ArchiveOperation;
  node: string;
  bucket: string;
  /** The checkpoint's prefix; the session reaches nothing outside it. */
  prefix: string;
  /** Epoch ms the operation ends by; the credentials outlive it a little. */
  until: number;
}

/** Credentials the worker hands an agent for one operation's S3 calls. */
export interface ArchiveAccess {
  /** Undefined when access is not scoped: the agent then uses its own credentials. */
  credentialsFor(r: ArchiveAccessRequest): Promise<ArchiveCredentials | undefined>;
  close(): void;
}

/** SPOT_RESCUE_ARCHIVE_ROLE_ARN unset: agents keep whatever S3 access their own role has. */
export class UnscopedArchiveAccess implements ArchiveAccess {
  async credentialsFor(): Promise<undefined> {
    return undefined;
  }
  close(): void {}
}

/** One STS session of the archive-access role per operation, limited by its session policy to the checkpoint's prefix. */
export class StsArchiveAccess implements ArchiveAccess {
  private readonly sts: STSClient;

  constructor(
    aws: AwsSettings,
    private readonly roleArn: string,
    private readonly kmsKeyArn: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.sts = new STSClient(awsClientConfig(aws));
  }

  async credentialsFor(r: ArchiveAccessRequest): Promise<ArchiveCredentials> {
    const policy = archiveSessionPolicy({
      operation: r.operation,
      partition: partitionOf(this.roleArn),
      bucket: r.bucket,
      prefix: r.prefix,
      kmsKeyArn: this.kmsKeyArn,
    });
    const out = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: this.roleArn,
        RoleSessionName: sessionName(r.operation, r.node),
        Policy: JSON.stringify(policy),
        DurationSeconds: sessionSeconds(r.until, this.now()),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
      throw new Error(`AssumeRole of ${this.roleArn} returned no credentials`);
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration.toISOString(),
    };
  }

  close(): void {
    this.sts.destroy();
  }
}
