/** Small DOM and formatting helpers of the status page. Text always goes in as text, never as HTML. */

type Child = Node | string | number | null | undefined | false;

/** `h('td', { class: 'num' }, 'text', node)`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | undefined>> = {},
  ...children: readonly (Child | readonly Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(name, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
  return el;
}

/** A number for people: at most 3 decimals, thousands kept plain. */
export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  return String(Number(x.toFixed(abs >= 100 ? 1 : abs >= 1 ? 2 : 3)));
}

/** A value with its signal's unit. */
export function withUnit(x: number | null | undefined, unit: string): string {
  if (x === null || x === undefined) return '—';
  switch (unit) {
    case 'fraction':
      return `${num(x * 100)} %`;
    case 'percent':
      return `${num(x)} %`;
    case 'seconds':
      return `${num(x)} s`;
    case 'ratio':
    case 'any':
      return num(x);
    default:
      // "1 request", "2 requests"; rates (tokens/s) keep their unit as is.
      return `${num(x)} ${x === 1 && unit.endsWith('s') && !unit.includes('/') ? unit.slice(0, -1) : unit}`;
  }
}

export function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: readonly (Child | readonly Child[])[]): void {
  el.replaceChildren();
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
}

/** A state pill: fresh, stale, failing, pending, active … */
export function pill(text: string, kind = text): HTMLSpanElement {
  return h('span', { class: `pill pill-${kind}` }, text);
}
