/** `aws:///<zone>/<instance-id>`, as the AWS cloud provider, Karpenter and kwok's simulated nodes set it. */
const PROVIDER_ID = /^aws:\/\/\/([^/]*)\/(i-[0-9a-f]+)$/;

/** A Node's spec.providerID read as an EC2 instance in a zone; undefined for any other provider. */
export function parseProviderId(
  providerId: string | undefined,
): { zone: string; instanceId: string } | undefined {
  const m = providerId ? PROVIDER_ID.exec(providerId) : null;
  return m ? { zone: m[1]!, instanceId: m[2]! } : undefined;
}

/** The spec.providerID of the Node an EC2 instance joins as. */
export function providerIdFor(zone: string, instanceId: string): string {
  return `aws:///${zone}/${instanceId}`;
}
