/**
 * The NATS micro-service name Dynamo gives a component: `Slug::slugify(format!("{ns}_{component}"))`
 * (lib/runtime/src/component.rs since #2506, 2025-08; the `{ns}|{component}` form used from 2025-04
 * slugifies to the same string). Workers answer `$SRV.STATS.<this name>`.
 *
 * Slugify, as lib/runtime/src/slug.rs does it: Unicode-lowercase the whole string, then replace every
 * character that is not `[a-z0-9_-]` by `_` (one `_` per code point, as Rust's `chars()`), then trim
 * leading `_`s.
 */
export function dynamoServiceName(namespace: string, component: string): string {
  return slugify(`${namespace}_${component}`);
}

export function slugify(text: string): string {
  let out = '';
  // for..of walks code points, like Rust's chars(): a non-BMP character becomes one '_', not two.
  for (const char of text.toLowerCase()) {
    out += /^[a-z0-9_-]$/.test(char) ? char : '_';
  }
  return out.replace(/^_+/, '');
}
