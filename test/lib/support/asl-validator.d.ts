/** Types for asl-validator 4, which ships none: the parts the infrastructure tests use. */
declare module 'asl-validator' {
  interface AslValidationResult {
    readonly isValid: boolean;
    readonly errors: readonly unknown[];
    errorsText(separator?: string): string;
  }
  /** Validates an Amazon States Language definition. It adds default fields to `definition`: pass a copy. */
  function validator(
    definition: unknown,
    options?: { readonly checkPaths?: boolean; readonly checkArn?: boolean },
  ): AslValidationResult;
  export = validator;
}
