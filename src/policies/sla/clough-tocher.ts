/**
 * scipy's `griddata(method="cubic")` in 2-D: the Clough–Tocher interpolant over the Delaunay
 * triangulation, with vertex gradients from the global curvature-minimising estimate (Nielson
 * 1983, Renka & Cline 1984) and affine-invariant cross-edge directions. A port of
 * scipy/scipy `scipy/interpolate/_interpnd.pyx` (`_estimate_gradients_2d_global` with its
 * defaults maxiter 400 and tol 1e-6, and `_clough_tocher_2d_single`); points outside the convex
 * hull get `undefined` (scipy's NaN fill value).
 */
import Delaunator from 'delaunator';

export class CloughTocher {
  private readonly triangles: Uint32Array;
  /** Per triangle and vertex k: the triangle across the edge opposite vertex k, or −1. */
  private readonly neighbours: Int32Array;
  private readonly grad: Float64Array;

  constructor(
    private readonly xs: readonly number[],
    private readonly ys: readonly number[],
    private readonly zs: readonly number[],
  ) {
    const coords = new Float64Array(2 * xs.length);
    xs.forEach((x, i) => {
      coords[2 * i] = x;
      coords[2 * i + 1] = ys[i] as number;
    });
    const d = new Delaunator(coords);
    this.triangles = d.triangles;
    const nt = d.triangles.length / 3;
    this.neighbours = new Int32Array(3 * nt);
    for (let t = 0; t < nt; t++) {
      for (let k = 0; k < 3; k++) {
        // Half-edge 3t+j runs from vertex j to vertex j+1: the edge opposite vertex k is j = k+1.
        const opposite = d.halfedges[3 * t + ((k + 1) % 3)] as number;
        this.neighbours[3 * t + k] = opposite < 0 ? -1 : Math.floor(opposite / 3);
      }
    }
    this.grad = estimateGradients(xs, ys, zs, vertexNeighbours(xs.length, d.triangles));
  }

  /** The interpolant at (x, y), or undefined outside the hull. */
  at(x: number, y: number): number | undefined {
    const nt = this.triangles.length / 3;
    for (let t = 0; t < nt; t++) {
      const b = this.barycentric(t, x, y);
      if (b && b[0] >= -EPS && b[1] >= -EPS && b[2] >= -EPS) return this.evaluate(t, b);
    }
    return undefined;
  }

  private vertex(t: number, k: number): number {
    return this.triangles[3 * t + k] as number;
  }

  private barycentric(t: number, x: number, y: number): [number, number, number] | undefined {
    const [a, b, c] = [this.vertex(t, 0), this.vertex(t, 1), this.vertex(t, 2)];
    const { xs, ys } = this;
    const x1 = xs[a] as number;
    const y1 = ys[a] as number;
    const x2 = xs[b] as number;
    const y2 = ys[b] as number;
    const x3 = xs[c] as number;
    const y3 = ys[c] as number;
    const det = (y2 - y3) * (x1 - x3) + (x3 - x2) * (y1 - y3);
    if (det === 0) return undefined;
    const l1 = ((y2 - y3) * (x - x3) + (x3 - x2) * (y - y3)) / det;
    const l2 = ((y3 - y1) * (x - x3) + (x1 - x3) * (y - y3)) / det;
    return [l1, l2, 1 - l1 - l2];
  }

  private evaluate(t: number, b: readonly [number, number, number]): number {
    const { xs, ys, zs, grad } = this;
    const v = [this.vertex(t, 0), this.vertex(t, 1), this.vertex(t, 2)] as const;
    const px = (i: number) => xs[v[i] as number] as number;
    const py = (i: number) => ys[v[i] as number] as number;
    const gx = (i: number) => grad[2 * (v[i] as number)] as number;
    const gy = (i: number) => grad[2 * (v[i] as number) + 1] as number;
    const e12x = px(1) - px(0);
    const e12y = py(1) - py(0);
    const e23x = px(2) - px(1);
    const e23y = py(2) - py(1);
    const e31x = px(0) - px(2);
    const e31y = py(0) - py(2);
    const f1 = zs[v[0]] as number;
    const f2 = zs[v[1]] as number;
    const f3 = zs[v[2]] as number;
    const df12 = gx(0) * e12x + gy(0) * e12y;
    const df21 = -(gx(1) * e12x + gy(1) * e12y);
    const df23 = gx(1) * e23x + gy(1) * e23y;
    const df32 = -(gx(2) * e23x + gy(2) * e23y);
    const df31 = gx(2) * e31x + gy(2) * e31y;
    const df13 = -(gx(0) * e31x + gy(0) * e31y);

    const c3000 = f1;
    const c2100 = (df12 + 3 * c3000) / 3;
    const c2010 = (df13 + 3 * c3000) / 3;
    const c0300 = f2;
    const c1200 = (df21 + 3 * c0300) / 3;
    const c0210 = (df23 + 3 * c0300) / 3;
    const c0030 = f3;
    const c1020 = (df31 + 3 * c0030) / 3;
    const c0120 = (df32 + 3 * c0030) / 3;
    const c2001 = (c2100 + c2010 + c3000) / 3;
    const c0201 = (c1200 + c0300 + c0210) / 3;
    const c0021 = (c1020 + c0120 + c0030) / 3;

    // Cross-edge directions towards the neighbour's centroid (affine invariant); −1/2 on the hull.
    const g = [0, 0, 0];
    for (let k = 0; k < 3; k++) {
      const n = this.neighbours[3 * t + k] as number;
      if (n === -1) {
        g[k] = -0.5;
        continue;
      }
      const [n0, n1, n2] = [this.vertex(n, 0), this.vertex(n, 1), this.vertex(n, 2)];
      const cx = ((xs[n0] as number) + (xs[n1] as number) + (xs[n2] as number)) / 3;
      const cy = ((ys[n0] as number) + (ys[n1] as number) + (ys[n2] as number)) / 3;
      const c = this.barycentric(t, cx, cy) as [number, number, number];
      if (k === 0) g[k] = (2 * c[2] + c[1] - 1) / (2 - 3 * c[2] - 3 * c[1]);
      else if (k === 1) g[k] = (2 * c[0] + c[2] - 1) / (2 - 3 * c[0] - 3 * c[2]);
      else g[k] = (2 * c[1] + c[0] - 1) / (2 - 3 * c[1] - 3 * c[0]);
    }
    const [g0, g1, g2] = g as [number, number, number];
    const c0111 = (g0 * (-c0300 + 3 * c0210 - 3 * c0120 + c0030) + (-c0300 + 2 * c0210 - c0120 + c0021 + c0201)) / 2;
    const c1011 = (g1 * (-c0030 + 3 * c1020 - 3 * c2010 + c3000) + (-c0030 + 2 * c1020 - c2010 + c2001 + c0021)) / 2;
    const c1101 = (g2 * (-c3000 + 3 * c2100 - 3 * c1200 + c0300) + (-c3000 + 2 * c2100 - c1200 + c2001 + c0201)) / 2;
    const c1002 = (c1101 + c1011 + c2001) / 3;
    const c0102 = (c1101 + c0111 + c0201) / 3;
    const c0012 = (c1011 + c0111 + c0021) / 3;
    const c0003 = (c1002 + c0102 + c0012) / 3;

    const minval = Math.min(b[0], b[1], b[2]);
    const b1 = b[0] - minval;
    const b2 = b[1] - minval;
    const b3 = b[2] - minval;
    const b4 = 3 * minval;
    return (
      b1 ** 3 * c3000 +
      3 * b1 ** 2 * b2 * c2100 +
      3 * b1 ** 2 * b3 * c2010 +
      3 * b1 ** 2 * b4 * c2001 +
      3 * b1 * b2 ** 2 * c1200 +
      6 * b1 * b2 * b4 * c1101 +
      3 * b1 * b3 ** 2 * c1020 +
      6 * b1 * b3 * b4 * c1011 +
      3 * b1 * b4 ** 2 * c1002 +
      b2 ** 3 * c0300 +
      3 * b2 ** 2 * b3 * c0210 +
      3 * b2 ** 2 * b4 * c0201 +
      3 * b2 * b3 ** 2 * c0120 +
      6 * b2 * b3 * b4 * c0111 +
      3 * b2 * b4 ** 2 * c0102 +
      b3 ** 3 * c0030 +
      3 * b3 ** 2 * b4 * c0021 +
      3 * b3 * b4 ** 2 * c0012 +
      b4 ** 3 * c0003
    );
  }
}

const EPS = 1e-12;

/** Each point's neighbours along triangle edges, ascending (Qhull's vertex_neighbor_vertices). */
function vertexNeighbours(n: number, triangles: Uint32Array): number[][] {
  const sets = Array.from({ length: n }, () => new Set<number>());
  for (let i = 0; i < triangles.length; i += 3) {
    const a = triangles[i] as number;
    const b = triangles[i + 1] as number;
    const c = triangles[i + 2] as number;
    for (const [p, q] of [
      [a, b],
      [b, c],
      [c, a],
    ] as const) {
      sets[p]?.add(q);
      sets[q]?.add(p);
    }
  }
  return sets.map((s) => [...s].sort((x, y) => x - y));
}

/** Gauss–Seidel minimisation of the edges' curvature, vertex by vertex (scipy's defaults). */
function estimateGradients(
  xs: readonly number[],
  ys: readonly number[],
  zs: readonly number[],
  neighbours: number[][],
  maxiter = 400,
  tol = 1e-6,
): Float64Array {
  const y = new Float64Array(2 * xs.length);
  for (let iter = 0; iter < maxiter; iter++) {
    let err = 0;
    for (let i = 0; i < xs.length; i++) {
      let q0 = 0;
      let q1 = 0;
      let q3 = 0;
      let s0 = 0;
      let s1 = 0;
      for (const j of neighbours[i] ?? []) {
        const ex = (xs[j] as number) - (xs[i] as number);
        const ey = (ys[j] as number) - (ys[i] as number);
        const l3 = Math.sqrt(ex * ex + ey * ey) ** 3;
        const f1 = zs[i] as number;
        const f2 = zs[j] as number;
        const df2 = -ex * (y[2 * j] as number) - ey * (y[2 * j + 1] as number);
        q0 += (4 * ex * ex) / l3;
        q1 += (4 * ex * ey) / l3;
        q3 += (4 * ey * ey) / l3;
        s0 += ((6 * (f1 - f2) - 2 * df2) * ex) / l3;
        s1 += ((6 * (f1 - f2) - 2 * df2) * ey) / l3;
      }
      const det = q0 * q3 - q1 * q1;
      const r0 = (q3 * s0 - q1 * s1) / det;
      const r1 = (-q1 * s0 + q0 * s1) / det;
      let change = Math.max(Math.abs((y[2 * i] as number) + r0), Math.abs((y[2 * i + 1] as number) + r1));
      y[2 * i] = -r0;
      y[2 * i + 1] = -r1;
      change /= Math.max(1, Math.max(Math.abs(r0), Math.abs(r1)));
      err = Math.max(err, change);
    }
    if (err < tol) break;
  }
  return y;
}
