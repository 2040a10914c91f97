/**
 * The Terraform module's IAM policy documents, read from its HCL: blocks are
 * cut out by brace matching, statements and conditions parsed from their
 * arguments. The policy check reads what they say; `renderPolicy` turns them
 * into the JSON IAM evaluates, with the module's references replaced by the
 * values a test gives, so a test can load the module's own policies into an
 * IAM that enforces them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** terraform/main.tf as it is in the checkout. */
export function moduleMain(): string {
  return readFileSync(join(repoRoot, 'terraform/main.tf'), 'utf8');
}

/** The body of the block whose header starts at `header` (first match), without its braces. */
export function block(text: string, header: string, from = 0): { body: string; end: number } | undefined {
  const start = text.indexOf(header, from);
  if (start < 0) return undefined;
  const open = text.indexOf('{', start + header.length - 1);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return { body: text.slice(open + 1, i), end: i + 1 };
  }
  throw new Error(`unbalanced block ${header}`);
}

/** Every block opened by `name {` directly or nested, in order. */
export function blocks(text: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`(^|\\s)${name}\\s*\\{`, 'g');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const b = block(text, m[0].trimStart(), m.index);
    if (b) out.push(b.body);
  }
  return out;
}

export function list(body: string, arg: string): string[] {
  const m = new RegExp(`\\b${arg}\\s*=\\s*`).exec(body);
  if (!m) return [];
  const start = m.index + m[0].length;
  if (body[start] !== '[') return [body.slice(start).split('\n')[0]!.trim()];
  // Elements as written: "literal" unquoted, references (var.x, local.y, a.b["k"].arn) as they are;
  // brackets and quotes inside an element do not end it.
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let item = '';
  for (let i = start; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '"' && body[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && (ch === '[' || ch === '(' || ch === '{')) depth++;
    if (!quoted && (ch === ']' || ch === ')' || ch === '}')) depth--;
    if (depth === 0) break;
    if (!quoted && depth === 1 && (ch === ',' || ch === '[')) {
      if (ch === ',') out.push(item);
      item = ch === ',' ? '' : item;
      continue;
    }
    item += ch;
  }
  out.push(item);
  return out
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map((x) => x.replace(/^"(.*)"$/, '$1'));
}

export interface Condition {
  test: string;
  variable: string;
  values: string[];
}
export interface Principal {
  type: string;
  identifiers: string[];
}
export interface Statement {
  sid: string;
  effect: 'Allow' | 'Deny';
  actions: string[];
  resources: string[];
  principals: Principal[];
  conditions: Condition[];
}

const unquote = (s: string) => s.replace(/"/g, '');

/** The statements of a policy document's body, static and dynamic (`content`) alike. */
export function statements(doc: string): Statement[] {
  return [...blocks(doc, 'statement'), ...blocks(doc, 'content')]
    .filter((b) => /\bsid\s*=/.test(b) && /\bactions\s*=/.test(b))
    .map((b) => {
      // Conditions and principals are nested blocks; the statement's own arguments come before the first of them.
      const own = b.split(/\n\s*(dynamic\s+"condition"|condition|principals)\s*\{/)[0]!;
      const effect = list(own, 'effect')[0];
      return {
        sid: unquote(list(own, 'sid')[0]!),
        effect: effect && unquote(effect) === 'Deny' ? 'Deny' : 'Allow',
        actions: list(own, 'actions'),
        resources: list(own, 'resources'),
        principals: blocks(b, 'principals').map((p) => ({
          type: unquote(list(p, 'type')[0]!),
          identifiers: list(p, 'identifiers'),
        })),
        conditions: [
          ...blocks(b, 'condition'),
          ...blocks(b, 'dynamic "condition"').map((d) => blocks(d, 'content')[0]!),
        ].map((c) => ({
          test: unquote(list(c, 'test')[0]!),
          variable: unquote(list(c, 'variable')[0]!),
          values: list(c, 'values'),
        })),
      };
    });
}

/** The body of `data "aws_iam_policy_document" "<name>"` in main.tf. */
export function policyDocument(main: string, name: string): string | undefined {
  return block(main, `data "aws_iam_policy_document" "${name}" {`)?.body;
}

/**
 * The values of the module's references, by the text main.tf writes: an
 * interpolation's inside (`aws_s3_bucket.this[0].arn` for
 * `${aws_s3_bucket.this[0].arn}`) or a bare element (`local.kms_key_arn`).
 */
export type References = Record<string, string>;

function resolve(element: string, refs: References, where: string): string {
  if (Object.hasOwn(refs, element)) return refs[element]!;
  const out = element.replace(/\$\{([^}]+)\}/g, (_, ref: string) => {
    if (!Object.hasOwn(refs, ref)) throw new Error(`${where}: no value given for \${${ref}}`);
    return refs[ref]!;
  });
  // A bare reference or expression left over (var.x, concat(...)) would reach IAM as a literal.
  if (/^(var|local|data|aws_[a-z_]+)\.|[()]/.test(out))
    throw new Error(`${where}: no value given for ${out}`);
  return out;
}

/** The AWS provider writes a list of one as that one string (and IAM evaluators read the two apart). */
const one = (xs: string[]): string | string[] => (xs.length === 1 ? xs[0]! : xs);

/**
 * The IAM JSON of a policy document of main.tf, as the AWS provider would
 * write it; only the statements named in `sids`, when given, so a test can
 * load the part of a large document it exercises.
 */
export function renderPolicy(main: string, name: string, refs: References, sids?: string[]) {
  const doc = policyDocument(main, name);
  if (!doc) throw new Error(`main.tf has no policy document ${name}`);
  const chosen = statements(doc).filter((s) => !sids || sids.includes(s.sid));
  const missing = (sids ?? []).filter((sid) => !chosen.some((s) => s.sid === sid));
  if (missing.length > 0) throw new Error(`policy document ${name} has no statement ${missing.join(', ')}`);
  return {
    Version: '2012-10-17',
    Statement: chosen.map((s) => {
      const where = `${name}.${s.sid}`;
      const r = (x: string) => resolve(x, refs, where);
      // type "*" with identifier "*" is written as `"Principal": "*"` (anyone).
      const anyone = s.principals.some((p) => p.type === '*');
      const principal: Record<string, string | string[]> = {};
      for (const type of new Set(s.principals.map((p) => p.type)))
        principal[type] = one(
          s.principals.filter((p) => p.type === type).flatMap((p) => p.identifiers.map(r)),
        );
      const condition: Record<string, Record<string, string | string[]>> = {};
      for (const c of s.conditions)
        condition[c.test] = { ...condition[c.test], [r(c.variable)]: one(c.values.map(r)) };
      return {
        Sid: s.sid,
        Effect: s.effect,
        Action: one(s.actions),
        ...(s.resources.length > 0 ? { Resource: one(s.resources.map(r)) } : {}),
        ...(s.principals.length > 0 ? { Principal: anyone ? '*' : principal } : {}),
        ...(s.conditions.length > 0 ? { Condition: condition } : {}),
      };
    }),
  };
}
