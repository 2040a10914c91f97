import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { type PanelData, panelSpec, THEME } from './panel-spec.js';

/**
 * Draws every panel with Vega (SVG, no browser), places them on Grafana's
 * 24-column grid in one SVG under a header, and rasterises that with resvg
 * using the given font files, so the picture looks the same on every machine
 * that has them.
 */

export interface DashboardPicture {
  title: string;
  subtitle: string;
  panels: PanelData[];
  startMs: number;
  endMs: number;
  stepMs: number;
}

export interface LayoutOptions {
  /** Width of the picture; a grid column is a 24th of it, less the margins. */
  width: number;
  /** Pixels per grid row unit (Grafana: 30). */
  rowHeight: number;
  margin: number;
  headerHeight: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = { width: 1600, rowHeight: 30, margin: 8, headerHeight: 64 };

export interface PanelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where a panel's gridPos lands in pixels. */
export function panelBox(grid: { x: number; y: number; w: number; h: number }, l: LayoutOptions): PanelBox {
  const column = (l.width - l.margin) / 24;
  return {
    x: Math.round(l.margin + grid.x * column),
    y: Math.round(l.headerHeight + grid.y * (l.rowHeight + l.margin / 8)),
    width: Math.round(grid.w * column - l.margin),
    height: Math.round(grid.h * (l.rowHeight + l.margin / 8) - l.margin),
  };
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );

async function panelSvg(data: PanelData, box: PanelBox, d: DashboardPicture): Promise<string> {
  const spec = panelSpec(data, {
    width: box.width,
    height: box.height,
    startMs: d.startMs,
    endMs: d.endMs,
    stepMs: d.stepMs,
  });
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export async function dashboardSvg(d: DashboardPicture, l: LayoutOptions = DEFAULT_LAYOUT): Promise<string> {
  const boxes = d.panels.map((p) => panelBox(p.plan.gridPos, l));
  const height = Math.max(...boxes.map((b) => b.y + b.height)) + l.margin;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${l.width}" height="${height}" viewBox="0 0 ${l.width} ${height}">`,
    `<rect width="100%" height="100%" fill="${THEME.page}"/>`,
    `<text x="${l.margin + 4}" y="28" font-family="${THEME.font}" font-size="20" font-weight="bold" fill="${THEME.text}">${escapeXml(d.title)}</text>`,
    `<text x="${l.margin + 4}" y="50" font-family="${THEME.font}" font-size="12" fill="${THEME.dim}">${escapeXml(d.subtitle)}</text>`,
  ];
  for (const [i, panel] of d.panels.entries()) {
    const box = boxes[i] as PanelBox;
    const inner = (await panelSvg(panel, box, d)).replace(/^<\?xml[^>]*>\s*/, '');
    parts.push(
      `<g transform="translate(${box.x},${box.y})">`,
      `<rect width="${box.width}" height="${box.height}" rx="3" fill="${THEME.panel}" stroke="${THEME.border}"/>`,
      inner,
      '</g>',
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export function svgToPng(svg: string, fontDirs: string[]): Buffer {
  const resvg = new Resvg(svg, {
    font: { fontDirs, loadSystemFonts: false, defaultFontFamily: THEME.font },
    fitTo: { mode: 'original' },
  });
  return resvg.render().asPng();
}
