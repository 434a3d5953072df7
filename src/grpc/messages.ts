/** KEDA's externalscaler messages as @grpc/proto-loader presents them (keepCase, longs as numbers). */
export interface ScaledObjectRef {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}

export interface IsActiveResponse {
  result: boolean;
}

export interface MetricSpec {
  metricName: string;
  targetSize: number;
  targetSizeFloat: number;
}

export interface GetMetricSpecResponse {
  metricSpecs: MetricSpec[];
}

export interface GetMetricsRequest {
  scaledObjectRef: ScaledObjectRef | null;
  metricName: string;
}

export interface MetricValue {
  metricName: string;
  metricValue: number;
  metricValueFloat: number;
}

export interface GetMetricsResponse {
  metricValues: MetricValue[];
}
