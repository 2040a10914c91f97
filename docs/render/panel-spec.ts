import type { PanelPlan } from './dashboard-panels.js';

/**
 * One panel's data as a Vega-Lite spec, drawn the way Grafana draws it in
 * its dark theme: a time series as lines with the legend below, a stat as its
 * last value, a table as rows of label values, and a panel whose queries
 * returned nothing as "No data". Pure: the data comes in, a spec goes out.
 */

export interface NamedSeries {
  name: string;
  labels: Readonly<Record<string, string>>;
  points: readonly (readonly [number, number])[];
}

export interface PanelData {
  plan: PanelPlan;
  series: NamedSeries[];
}

export const THEME = {
  font: 'DejaVu Sans',
  page: '#111217',
  panel: '#181b1f',
  border: '#2c3235',
  text: '#ccccdc',
  dim: '#8e8e9e',
  grid: '#2c3235',
  /** Grafana's classic palette, in its order. */
  palette: [
    '#73bf69',
    '#f2cc0c',
    '#8ab8ff',
    '#ff780a',
    '#f2495c',
    '#5794f2',
    '#b877d9',
    '#705da0',
    '#37872d',
  ],
} as const;

/**
 * A Vega expression that formats the number `ref` in a Grafana unit: short
 * (SI above a thousand), s (ms below a second), Bps (SI bytes per second).
 */
export function unitExpression(unit: string, ref: string): string {
  const sig = (v: string) => `format(${v}, '.3~r')`;
  switch (unit) {
    case 's':
      return `abs(${ref}) < 1 && ${ref} != 0 ? ${sig(`${ref} * 1000`)} + ' ms' : ${sig(ref)} + ' s'`;
    case 'Bps':
      return `format(${ref}, '.3~s') + 'B/s'`;
    case 'short':
    case 'none':
      return `abs(${ref}) >= 1000 ? format(${ref}, '.3~s') : ${sig(ref)}`;
    default:
      throw new Error(`no formatter for the unit ${unit}`);
  }
}

export interface PanelSpecOptions {
  /** Outer size of the panel in pixels, title and legend included. */
  width: number;
  height: number;
  /** The x domain of every time series, so all panels line up. */
  startMs: number;
  endMs: number;
  /** The query step: samples further apart than this are a gap, drawn as one. */
  stepMs: number;
}

/** A line's points, with a null where it has no value (NaN, or no sample for over a step) so the line breaks there. */
export function linePoints(
  points: readonly (readonly [number, number])[],
  stepMs: number,
): { t: number; v: number | null }[] {
  const out: { t: number; v: number | null }[] = [];
  let last: number | undefined;
  for (const [t, v] of [...points].sort((a, b) => a[0] - b[0])) {
    if (last !== undefined && t - last > stepMs * 1.5) out.push({ t: last + stepMs, v: null });
    out.push({ t, v: Number.isFinite(v) ? v : null });
    last = t;
  }
  return out;
}

const finite = (s: NamedSeries) => s.points.filter(([, v]) => Number.isFinite(v));

type Spec = Record<string, unknown>;

function frame(plan: PanelPlan, o: PanelSpecOptions): Spec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: o.width,
    height: o.height,
    autosize: { type: 'fit', contains: 'padding' },
    padding: { left: 10, right: 14, top: 8, bottom: 8 },
    background: null,
    title: {
      text: plan.title,
      anchor: 'start',
      color: THEME.text,
      font: THEME.font,
      fontSize: 13,
      fontWeight: 'bold',
      offset: 8,
    },
    config: {
      font: THEME.font,
      view: { stroke: null },
      axis: {
        labelColor: THEME.dim,
        labelFont: THEME.font,
        labelFontSize: 10,
        titleColor: THEME.dim,
        gridColor: THEME.grid,
        domainColor: THEME.grid,
        tickColor: THEME.grid,
      },
      legend: { labelColor: THEME.text, labelFont: THEME.font, labelFontSize: 11, symbolStrokeWidth: 3 },
    },
  };
}

function noData(plan: PanelPlan, o: PanelSpecOptions): Spec {
  return {
    ...frame(plan, o),
    data: { values: [{}] },
    mark: { type: 'text', text: 'No data', fontSize: 18, color: THEME.dim, font: THEME.font },
  };
}

function timeseries(data: PanelData, o: PanelSpecOptions): Spec {
  const values = data.series.flatMap((s) =>
    linePoints(s.points, o.stepMs).map((p) => ({ ...p, series: s.name })),
  );
  const names = data.series.map((s) => s.name);
  const columns = Math.max(1, Math.min(names.length, Math.floor(o.width / 240)));
  return {
    ...frame(data.plan, o),
    data: { values },
    mark: {
      type: 'line',
      strokeWidth: 1.5,
      interpolate: 'linear',
      invalid: 'break-paths-show-domains',
      point: { size: 14, filled: true },
    },
    encoding: {
      x: {
        field: 't',
        type: 'temporal',
        scale: { type: 'utc', domain: [o.startMs, o.endMs] },
        axis: {
          title: null,
          grid: true,
          tickCount: 6,
          // Seconds too when ticks fall within a minute, as Grafana does for short ranges.
          labelExpr: `utcFormat(datum.value, '${o.endMs - o.startMs < 15 * 60_000 ? '%H:%M:%S' : '%H:%M'}')`,
        },
      },
      y: {
        field: 'v',
        type: 'quantitative',
        scale: { zero: true, nice: true },
        axis: {
          title: null,
          grid: true,
          tickCount: 4,
          labelExpr: unitExpression(data.plan.unit, 'datum.value'),
        },
      },
      color: {
        field: 'series',
        type: 'nominal',
        sort: names,
        scale: { domain: names, range: THEME.palette },
        legend: {
          title: null,
          orient: 'bottom',
          direction: 'horizontal',
          columns,
          labelLimit: Math.floor(o.width / columns) - 30,
          symbolType: 'stroke',
        },
      },
    },
  };
}

/** The last value of each series, large, as Grafana's stat panel shows it. */
function stat(data: PanelData, o: PanelSpecOptions): Spec {
  const values = data.series
    .map((s, row) => ({ row, series: s.name, v: finite(s).at(-1)?.[1] }))
    .filter((s) => s.v !== undefined);
  const many = values.length > 1;
  return {
    ...frame(data.plan, o),
    data: { values },
    transform: [
      {
        calculate: many
          ? `datum.series + ': ' + (${unitExpression(data.plan.unit, 'datum.v')})`
          : unitExpression(data.plan.unit, 'datum.v'),
        as: 'label',
      },
    ],
    mark: {
      type: 'text',
      fontSize: many ? 22 : 44,
      fontWeight: 'bold',
      color: THEME.palette[0],
      font: THEME.font,
    },
    encoding: {
      y: { field: 'row', type: 'ordinal', axis: null },
      text: { field: 'label', type: 'nominal' },
    },
  };
}

/** Rows of label values and the value, one per series, columns named by label. */
function table(data: PanelData, o: PanelSpecOptions): Spec {
  const columns = [
    ...new Set(data.series.flatMap((s) => Object.keys(s.labels).filter((k) => k !== '__name__'))),
  ].sort();
  const cells = data.series.flatMap((s, row) => [
    ...columns.map((col) => ({ row, col, text: s.labels[col] ?? '', v: null })),
    { row, col: 'Value', text: '', v: finite(s).at(-1)?.[1] ?? null },
  ]);
  return {
    ...frame(data.plan, o),
    data: { values: cells },
    transform: [
      {
        calculate: `datum.v === null ? datum.text : (${unitExpression(data.plan.unit, 'datum.v')})`,
        as: 'label',
      },
    ],
    mark: { type: 'text', align: 'left', fontSize: 12, color: THEME.text, font: THEME.font, dx: -40 },
    encoding: {
      x: {
        field: 'col',
        type: 'ordinal',
        sort: [...columns, 'Value'],
        axis: {
          orient: 'top',
          title: null,
          labelAngle: 0,
          labelColor: THEME.palette[2],
          labelFontSize: 12,
          labelAlign: 'left',
          labelOffset: -40,
          domain: false,
          ticks: false,
        },
      },
      y: { field: 'row', type: 'ordinal', axis: null },
      text: { field: 'label', type: 'nominal' },
    },
  };
}

/** Grafana says "No data" when no series has a single value. */
export function hasData(data: PanelData): boolean {
  return data.series.some((s) => finite(s).length > 0);
}

export function panelSpec(data: PanelData, o: PanelSpecOptions): Spec {
  if (!hasData(data)) return noData(data.plan, o);
  switch (data.plan.type) {
    case 'timeseries':
      return timeseries(data, o);
    case 'stat':
      return stat(data, o);
    case 'table':
      return table(data, o);
  }
}
