/**
 * The session policy of the credentials the worker hands an agent for one
 * operation. STS intersects it with the archive-access role's own policy, so
 * whatever the role may do, the session reaches only this checkpoint's
 * objects: a node can write its own pod's checkpoint and read the one it
 * restores, never another pod's memory.
 */

export type ArchiveOperation = 'checkpoint' | 'restore';

export interface ArchiveScope {
  operation: ArchiveOperation;
  /** aws, aws-cn, aws-us-gov: read from the role's ARN. */
  partition: string;
  bucket: string;
  /** The checkpoint's prefix (<cluster>/<namespace>/<pod>/<uid>/<checkpoint id>), without a trailing slash. */
  prefix: string;
  /** The archives' KMS key, when they are encrypted with SSE-KMS. */
  kmsKeyArn?: string | undefined;
}

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
}
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/**
 * What each operation's S3 calls need. A checkpoint streams multipart
 * uploads (PutObject covers create, part and complete), aborts a failed one
 * and removes what it uploaded when the checkpoint fails; a restore only
 * reads. SSE-KMS: uploads need a data key, and completing a multipart upload
 * or reading decrypts one.
 */
const S3_ACTIONS: Record<ArchiveOperation, string[]> = {
  checkpoint: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
  restore: ['s3:GetObject'],
};
const KMS_ACTIONS: Record<ArchiveOperation, string[]> = {
  checkpoint: ['kms:GenerateDataKey', 'kms:Decrypt'],
  restore: ['kms:Decrypt'],
};

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PARTITION = /^aws(-[a-z]+)*$/;
/** Characters IAM reads as patterns or variables, and path steps that would widen a prefix. */
const UNSAFE_IN_PREFIX = /[*?$]|(^|\/)\.\.?(\/|$)|\/\//;

export function archiveSessionPolicy(s: ArchiveScope): PolicyDocument {
  if (!PARTITION.test(s.partition)) throw new Error(`not an AWS partition: ${s.partition}`);
  if (!BUCKET.test(s.bucket)) throw new Error(`not a bucket name: ${s.bucket}`);
  if (
    s.prefix === '' ||
    s.prefix.startsWith('/') ||
    s.prefix.endsWith('/') ||
    UNSAFE_IN_PREFIX.test(s.prefix)
  )
    throw new Error(`an archive prefix must be a plain key path: ${JSON.stringify(s.prefix)}`);
  const statements: PolicyStatement[] = [
    {
      Sid: 'ThisCheckpointOnly',
      Effect: 'Allow',
      Action: S3_ACTIONS[s.operation],
      // The trailing "/*" stays inside the prefix: "<prefix>/" cannot match a sibling such as "<prefix>x/".
      Resource: [`arn:${s.partition}:s3:::${s.bucket}/${s.prefix}/*`],
    },
  ];
  if (s.kmsKeyArn) {
    if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/.test(s.kmsKeyArn))
      throw new Error(`not a KMS key ARN: ${s.kmsKeyArn}`);
    statements.push({
      Sid: 'ArchiveKey',
      Effect: 'Allow',
      Action: KMS_ACTIONS[s.operation],
      Resource: [s.kmsKeyArn],
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/** The partition of an ARN (arn:<partition>:...). */
export function partitionOf(arn: string): string {
  const p = arn.split(':')[1];
  if (!arn.startsWith('arn:') || !p) throw new Error(`not an ARN: ${arn}`);
  return p;
}

/** STS allows 900 s to the role's maximum (3600 s unless raised): long enough for the operation, never longer. */
export function sessionSeconds(untilMs: number, nowMs: number): number {
  const needed = Math.ceil((untilMs - nowMs) / 1000) + 60;
  return Math.min(3600, Math.max(900, needed));
}

/** A session name CloudTrail shows for every S3 call the agent makes with it: operation and node. */
export function sessionName(operation: ArchiveOperation, node: string): string {
  return `spot-rescue-${operation}-${node}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}
