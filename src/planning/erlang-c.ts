/**
 * The M/M/n queue (Erlang C): n identical servers, Poisson arrivals at rate λ, exponential
 * service at rate μ per server, one FIFO queue. Offered load a = λ / μ (in servers); the queue is
 * stable only when n > a.
 *
 * - ErlangC(n, a) = P(an arrival waits) = (aⁿ/n! · n/(n−a)) / (Σₖ₌₀ⁿ⁻¹ aᵏ/k! + aⁿ/n! · n/(n−a)).
 * - P(W > t) = ErlangC(n, a) · e^(−(nμ − λ)·t): the waiting time of those who wait is exponential
 *   with rate nμ − λ.
 *
 * ErlangC is computed from Erlang B's recursion (B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)),
 * C = n·B / (n − a·(1 − B))), which never forms aⁿ or n! and so stays exact for thousands of servers.
 */

/** Erlang B: the blocking probability of n servers at offered load a (≥ 0). */
export function erlangB(n: number, a: number): number {
  let b = 1;
  for (let k = 1; k <= n; k++) b = (a * b) / (k + a * b);
  return b;
}

/** P(an arrival has to wait) in M/M/n at offered load a; 1 when n ≤ a (the queue grows without bound). */
export function erlangC(n: number, a: number): number {
  if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`erlangC: n must be a whole number ≥ 1, got ${n}`);
  if (!(a >= 0) || !Number.isFinite(a)) throw new RangeError(`erlangC: the offered load must be a finite number ≥ 0, got ${a}`);
  if (a === 0) return 0;
  if (n <= a) return 1;
  const b = erlangB(n, a);
  return (n * b) / (n - a * (1 - b));
}

/** P(W > t) in M/M/n: arrivals at `lambda`, service rate `mu` per server, `n` servers. */
export function probabilityWaitAbove(n: number, lambda: number, mu: number, t: number): number {
  if (lambda === 0) return 0;
  const a = lambda / mu;
  if (n <= a) return 1;
  return erlangC(n, a) * Math.exp(-(n * mu - lambda) * t);
}

/** Above this the search gives up: no fleet that large is a plan. */
export const MAX_SERVERS = 1_000_000;

/**
 * The smallest n > λ/μ with P(W > t) ≤ 1 − q: the servers that keep the probability of waiting
 * longer than `t` at most 1 − `q`. A class without traffic (λ = 0) needs none.
 */
export function serversFor(lambda: number, mu: number, t: number, q: number): number {
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RangeError(`arrival rate must be a finite number ≥ 0, got ${lambda}`);
  if (!(mu > 0) || !Number.isFinite(mu)) throw new RangeError(`service rate must be a finite number > 0, got ${mu}`);
  if (!(t > 0)) throw new RangeError(`allowed waiting time must be > 0, got ${t}`);
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile must be between 0 and 1, got ${q}`);
  if (lambda === 0) return 0;
  const a = lambda / mu;
  for (let n = Math.floor(a) + 1; n <= MAX_SERVERS; n++) {
    if (probabilityWaitAbove(n, lambda, mu, t) <= 1 - q) return n;
  }
  throw new RangeError(`more than ${MAX_SERVERS} servers would be needed (offered load ${a})`);
}
