/** Bad trigger metadata; `key` names the metadata key at fault. Answered as INVALID_ARGUMENT. */
export class MetadataError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`metadata '${key}': ${message}`);
    this.name = 'MetadataError';
  }
}
