import { z } from 'zod';

/**
 * The names Kubernetes gives namespaces, pods, containers and nodes, and
 * the uids it gives pods, as schemas. Every name that reaches the agent or
 * the worker from outside (a request, a manifest in S3, a job or progress in
 * Redis) is parsed with one of these: such names become file paths, kubelet
 * URLs and S3 keys, and their character sets leave no room for `/`, `..`,
 * `%` or `_` (which the runc runtime uses to join them into one id).
 */

/** RFC 1123 label, as Kubernetes validates it (IsDNS1123Label). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_LABEL_MAX = 63;
/** RFC 1123 subdomain: labels joined by dots (IsDNS1123Subdomain). */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS1123_SUBDOMAIN_MAX = 253;
/** The uid the API server gives every object: a UUID in its lower-case text form. */
export const KUBE_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function dns1123Label(what: string) {
  return z
    .string()
    .max(DNS1123_LABEL_MAX, `a ${what} has at most ${DNS1123_LABEL_MAX} characters`)
    .regex(
      DNS1123_LABEL,
      `a ${what} is a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit`,
    );
}

function dns1123Subdomain(what: string) {
  return z
    .string()
    .max(DNS1123_SUBDOMAIN_MAX, `a ${what} has at most ${DNS1123_SUBDOMAIN_MAX} characters`)
    .regex(
      DNS1123_SUBDOMAIN,
      `a ${what} is a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each part starting and ending with a letter or digit`,
    );
}

export const namespaceNameSchema = dns1123Label('namespace name');
export const podNameSchema = dns1123Subdomain('pod name');
export const containerNameSchema = dns1123Label('container name');
export const nodeNameSchema = dns1123Subdomain('node name');
export const podUidSchema = z
  .string()
  .regex(KUBE_UID, 'a pod uid is a lower-case UUID, as the API server gives it');
