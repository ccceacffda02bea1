/**
 * The CLI's one error class. Everything else a command throws is an SDK or server error
 * (`DroverError` with a stable code) whose message already names the value, its source and the
 * fix; `run()` prints those as `Error: <message>` and exits 1. A `UsageError` exits 2.
 */
import { type ErrorDetails, ValidationError } from '@drover/schemas';

/**
 * Thrown when the command line itself is wrong: a flag value that does not parse, flags that do
 * not go together, a required choice left out. Exits 2, as commander's own usage errors do.
 */
export class UsageError extends ValidationError {
  override readonly name = 'UsageError';
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('VALIDATION_ERROR', message, details, options);
  }
}
