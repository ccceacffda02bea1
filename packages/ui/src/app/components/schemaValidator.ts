/**
 * react-jsonschema-form's validator on @cfworker/json-schema rather than ajv: ajv compiles each
 * schema into JavaScript with `new Function`, which the UI's Content-Security-Policy (no
 * 'unsafe-eval') forbids; @cfworker/json-schema interprets the schema instead, draft 2020-12
 * like the server's check, and weighs a fraction of ajv in the bundle.
 */
import { type OutputUnit, type Schema, Validator } from '@cfworker/json-schema';
import {
  type CustomValidator,
  createErrorHandler,
  type ErrorTransformer,
  type RJSFSchema,
  type RJSFValidationError,
  toErrorSchema,
  type UiSchema,
  unwrapErrorHandler,
  type ValidationData,
  type ValidatorType,
  validationDataMerge,
} from '@rjsf/utils';

/** Keywords that only say "something below failed": the failures below are the ones to show. */
const SUMMARY_KEYWORDS = new Set([
  'properties',
  'items',
  'prefixItems',
  'allOf',
  '$ref',
  'additionalProperties',
  'unevaluatedProperties',
  'dependentSchemas',
  'if',
  'then',
  'else',
]);

const validators = new WeakMap<object, Validator>();

function validatorFor(schema: RJSFSchema): Validator {
  let validator = validators.get(schema);
  if (!validator) {
    validator = new Validator(schema as Schema, '2020-12', false);
    validators.set(schema, validator);
  }
  return validator;
}

/** `#/a/0/b` → `.a.0.b`, the property path rjsf's error tree uses. */
function propertyOf(instanceLocation: string): string {
  return instanceLocation
    .replace(/^#/, '')
    .split('/')
    .filter(Boolean)
    .map((part) => `.${decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')}`)
    .join('');
}

function toRjsfErrors(units: readonly OutputUnit[]): RJSFValidationError[] {
  const leaves = units.filter((unit) => !SUMMARY_KEYWORDS.has(unit.keyword));
  return (leaves.length ? leaves : units).map((unit) => {
    // A missing property's error belongs to that property's field, as ajv's does.
    const missing = unit.keyword === 'required' ? /required property "(.+)"/.exec(unit.error)?.[1] : undefined;
    const property = propertyOf(unit.instanceLocation) + (missing ? `.${missing}` : '');
    const message = missing ? 'is required' : unit.error;
    return { name: unit.keyword, property, message, params: {}, stack: `${property.slice(1) || 'value'} ${message}`, schemaPath: unit.keywordLocation };
  });
}

export const schemaValidator: ValidatorType = {
  validateFormData(
    formData: unknown,
    schema: RJSFSchema,
    customValidate?: CustomValidator,
    transformErrors?: ErrorTransformer,
    uiSchema?: UiSchema,
  ): ValidationData<unknown> {
    let errors = toRjsfErrors(validatorFor(schema).validate(formData ?? {}).errors);
    if (transformErrors) errors = transformErrors(errors, uiSchema);
    const data = { errors, errorSchema: toErrorSchema(errors) };
    if (!customValidate) return data;
    return validationDataMerge(data, unwrapErrorHandler(customValidate(formData, createErrorHandler(formData), uiSchema)));
  },
  isValid(schema: RJSFSchema, formData: unknown, rootSchema: RJSFSchema): boolean {
    // A sub-schema's $refs point into the root's definitions: lend them to it.
    const withDefinitions = schema === rootSchema ? schema : { ...schema, $defs: rootSchema.$defs, definitions: rootSchema.definitions };
    return new Validator(withDefinitions as Schema, '2020-12', true).validate(formData).valid;
  },
  rawValidation<Result>(schema: RJSFSchema, formData?: unknown) {
    const result = validatorFor(schema).validate(formData);
    return { errors: result.errors as Result[] };
  },
};
