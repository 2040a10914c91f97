/**
 * Kubernetes resource quantities ("250m", "1.5", "512Mi", "1G", "1e3") as
 * plain numbers: CPU in millicores, everything else in base units.
 */
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

export function parseQuantity(q: string | number | undefined | null): number {
  if (q === undefined || q === null || q === '') return 0;
  if (typeof q === 'number') return q;
  const m = QUANTITY.exec(q.trim());
  if (!m) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(q)}`);
  return Number(m[1]) * (SUFFIX[m[2] ?? ''] ?? 1);
}

// `|| 0` turns the -0 that Math.ceil makes of tiny negatives into 0.
export const cpuMillis = (q: string | number | undefined | null): number =>
  Math.ceil(parseQuantity(q) * 1000 - 1e-9) || 0;
export const bytes = (q: string | number | undefined | null): number =>
  Math.ceil(parseQuantity(q) - 1e-9) || 0;

/** Bytes as MiB to one decimal, for reasons, events and logs (a size, or a rate per second). */
export function mibOneDecimal(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}
