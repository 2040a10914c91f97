/**
 * The version in what `criu --version` prints ("Version: 4.2.1" on its
 * first line), or undefined when the output names none. One reading for
 * both runtimes and the CRIU installer, so the manifest, the capabilities
 * and the install check agree on what the version is.
 */
export function criuVersionIn(output: string): string | undefined {
  return /Version:\s*(\S+)/.exec(output)?.[1];
}
