/**
 * `strategy: up-max-down-min`: llm-d WVA V2 combines its analyzers by the max of the capacity they
 * require (scale-up) and the min of the capacity they find spare (scale-down)
 * (llm-d/llm-d-workload-variant-autoscaler `internal/engines/pipeline/`), the safest combination:
 * any signal can add replicas; replicas go only when every signal agrees, and then only as many as
 * the most cautious one (the min of the reductions) allows.
 */
export function upMaxDownMin(desired: readonly number[], current: number): { recommendation: number; combination: string } {
  const list = desired.join(', ');
  const top = Math.max(...desired);
  if (top > current) return { recommendation: top, combination: `some signal asks for more than current ${current}: max(${list}) = ${top}` };
  if (desired.every((d) => d < current)) {
    const low = Math.min(...desired);
    // The min of the reductions: the largest of the lower votes.
    const agreed = top;
    return {
      recommendation: agreed,
      combination: `every signal asks for fewer than current ${current} (lowest ${low}): the smallest reduction, max(${list}) = ${agreed}`,
    };
  }
  return { recommendation: current, combination: `no signal asks for more than current ${current} and not all ask for fewer: stay at ${current}` };
}
