/** Rounding for what people read (explanations, reports); values sent to KEDA are never rounded. */
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;
export const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;
