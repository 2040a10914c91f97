import { z } from 'zod';

/**
 * The part of a Grafana dashboard JSON the picture needs: each panel's place
 * on the 24-column grid, its title, unit and PromQL targets. Read with zod so
 * a dashboard edited into a shape this renderer does not know fails loudly
 * instead of drawing a wrong picture.
 */
const targetSchema = z.object({
  refId: z.string(),
  expr: z.string().min(1),
  legendFormat: z.string().optional(),
  instant: z.boolean().optional(),
  format: z.string().optional(),
});

const panelSchema = z.object({
  id: z.number(),
  type: z.enum(['timeseries', 'stat', 'table']),
  title: z.string(),
  gridPos: z.object({ x: z.number(), y: z.number(), w: z.number().positive(), h: z.number().positive() }),
  fieldConfig: z.object({ defaults: z.object({ unit: z.string().optional() }) }).optional(),
  targets: z.array(targetSchema).min(1),
});

export const dashboardSchema = z.object({
  title: z.string(),
  panels: z.array(panelSchema).min(1),
});

export type Dashboard = z.infer<typeof dashboardSchema>;
export type PanelType = z.infer<typeof panelSchema>['type'];

/** The time range the picture shows and how Prometheus samples it. */
export interface QueryWindow {
  startMs: number;
  endMs: number;
  stepSeconds: number;
  scrapeIntervalSeconds: number;
}

export interface PanelQuery {
  refId: string;
  /** PromQL with the Grafana variables replaced. */
  expr: string;
  legendFormat: string;
  /** One value at the end of the window (query) rather than a range (query_range). */
  instant: boolean;
}

export interface PanelPlan {
  id: number;
  type: PanelType;
  title: string;
  unit: string;
  gridPos: { x: number; y: number; w: number; h: number };
  queries: PanelQuery[];
}

/**
 * Grafana's built-in interval variables, as Grafana computes them for a
 * Prometheus data source whose scrape interval is known: $__interval is the
 * step, $__rate_interval max($__interval + scrape interval, 4 x scrape
 * interval) (so a rate always spans several samples), $__range the whole window.
 */
export function intervalVariables(w: QueryWindow): Record<string, string> {
  const rate = Math.max(w.stepSeconds + w.scrapeIntervalSeconds, 4 * w.scrapeIntervalSeconds);
  return {
    __interval: `${w.stepSeconds}s`,
    __rate_interval: `${rate}s`,
    __range: `${Math.round((w.endMs - w.startMs) / 1000)}s`,
  };
}

/** Replaces `$name` and `${name}`; a variable it does not know is an error, never sent as is. */
export function substituteVariables(expr: string, vars: Record<string, string>): string {
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare) as string;
      const value = vars[name];
      if (value === undefined) throw new Error(`unknown dashboard variable ${whole} in: ${expr}`);
      return value;
    },
  );
}

export function planPanels(dashboard: unknown, w: QueryWindow): PanelPlan[] {
  const d = dashboardSchema.parse(dashboard);
  const vars = intervalVariables(w);
  return d.panels.map((p) => ({
    id: p.id,
    type: p.type,
    title: p.title,
    unit: p.fieldConfig?.defaults.unit ?? 'short',
    gridPos: p.gridPos,
    queries: p.targets.map((t) => ({
      refId: t.refId,
      expr: substituteVariables(t.expr, vars),
      legendFormat: t.legendFormat ?? '',
      instant: t.instant === true || p.type === 'table',
    })),
  }));
}

/**
 * A series' name in the legend, as Grafana writes it: `{{label}}` replaced
 * by the label's value (empty when absent), and with no format the label set.
 */
export function legendName(format: string, labels: Readonly<Record<string, string>>): string {
  if (format.trim() !== '') {
    const name = format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => labels[l] ?? '').trim();
    if (name !== '') return name;
  }
  const pairs = Object.entries(labels).filter(([k]) => k !== '__name__');
  return pairs.length === 0 ? 'value' : `{${pairs.map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
}
