import type { AuthorizationV1Api } from '@kubernetes/client-node';
import { z } from 'zod';
import { RESTORE_AS_VERB, type RestoreAsAnswer } from './restore-as.js';

/** Whether this worker may restore pods as a ServiceAccount (see restore-as.ts). */
export interface RestoreGrants {
  check(namespace: string, serviceAccount: string): Promise<RestoreAsAnswer>;
}

const reviewStatusSchema = z.object({
  allowed: z.boolean(),
  denied: z.boolean().optional(),
  reason: z.string().optional(),
  evaluationError: z.string().optional(),
});

/** Asks the API server about this worker's own identity: a SelfSubjectAccessReview per question. */
export class KubeRestoreGrants implements RestoreGrants {
  constructor(private readonly api: AuthorizationV1Api) {}

  async check(namespace: string, serviceAccount: string): Promise<RestoreAsAnswer> {
    const review = await this.api.createSelfSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            group: '',
            resource: 'serviceaccounts',
            verb: RESTORE_AS_VERB,
            namespace,
            name: serviceAccount,
          },
        },
      },
    });
    const status = reviewStatusSchema.parse(review.status ?? {});
    const reason = status.evaluationError || status.reason;
    return { allowed: status.allowed, ...(reason ? { reason } : {}) };
  }
}
