/** Ends an exhaustive `switch`: the compiler rejects a call where `value` can still be something. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
