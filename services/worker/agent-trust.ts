import type { CoreV1Api } from '@kubernetes/client-node';
import type { AwsSettings } from '../common/aws.js';
import type { Logger } from '../common/logger.js';
import { AgentTokens, KubeTokenMinter } from './agent-tokens.js';
import { type ArchiveAccess, StsArchiveAccess, UnscopedArchiveAccess } from './archive-access.js';
import type { WorkerConfig } from './settings.js';

/** The worker's per-node agent tokens, minted for its own ServiceAccount (system:serviceaccount:<ns>:<name>). */
export function agentTokens(
  core: CoreV1Api,
  config: Pick<WorkerConfig, 'serviceAccount' | 'agentTokenExpirationSeconds'>,
): AgentTokens {
  const [, , namespace, name] = config.serviceAccount.split(':') as [string, string, string, string];
  return new AgentTokens(new KubeTokenMinter(core, { namespace, name }), {
    expirationSeconds: config.agentTokenExpirationSeconds,
    renewBeforeMs: (config.agentTokenExpirationSeconds * 1000) / 5,
  });
}

/** Scoped archive credentials when an archive-access role is configured; said loudly when not. */
export function createArchiveAccess(
  config: Pick<WorkerConfig, 'archiveRoleArn' | 'archiveKmsKeyArn'>,
  aws: AwsSettings,
  log: Logger,
): ArchiveAccess {
  if (!config.archiveRoleArn) {
    log.warn(
      'SPOT_RESCUE_ARCHIVE_ROLE_ARN is unset: agents use their own S3 credentials, so every node can read every archive its role reaches',
    );
    return new UnscopedArchiveAccess();
  }
  log.info(
    { role: config.archiveRoleArn },
    'agents get per-checkpoint S3 sessions of the archive-access role',
  );
  return new StsArchiveAccess(aws, config.archiveRoleArn, config.archiveKmsKeyArn);
}
