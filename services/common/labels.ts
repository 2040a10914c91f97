/** Names spot-rescue puts on Kubernetes objects, in one place. */
export const TAINT_KEY = 'spot-rescue.io/interrupted';
export const MIGRATE_ANNOTATION = 'spot-rescue.io/migrate';
export const NAMESPACE_OPT_IN_LABEL = 'spot-rescue.io/migrate';
export const NAMESPACE_OPT_IN_VALUE = 'enabled';
/** On a restored pod: the uid of the pod it was restored from (idempotency and audit). */
export const RESTORED_FROM_ANNOTATION = 'spot-rescue.io/restored-from';
export const CHECKPOINT_ANNOTATION = 'spot-rescue.io/checkpoint';
