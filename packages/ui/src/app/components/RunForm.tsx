/**
 * "Run now": a form generated from the deployment's parameter schema by react-jsonschema-form,
 * checked in the browser against the same draft (2020-12) the server uses. The server
 * checks again; what it refuses shows beside the field it names.
 */
import type { Deployment } from '@drover/schemas';
// The Form itself, not the package index: the index also exports a test registry that imports ajv.
import Form from '@rjsf/core/lib/components/Form.js';
import type { ErrorSchema, RJSFSchema } from '@rjsf/utils';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { useLocation } from 'wouter';
import { droverCode, errorIssues, useTRPC } from '../api.js';
import { ErrorNote } from './common.js';
import { schemaValidator } from './schemaValidator.js';

type Parameters = Record<string, unknown>;

export default function RunForm({ deployment }: { deployment: Deployment }) {
  const trpc = useTRPC();
  const [, navigate] = useLocation();
  // The form keeps the schema it opened with while the user types, though the page refreshes the
  // deployment: were it changed meanwhile, the server's check refuses the run and says why, beside the field.
  const [schema] = useState(deployment.parameterSchema);
  const [formData, setFormData] = useState<Parameters>(deployment.parameters);
  const [serverErrors, setServerErrors] = useState<ErrorSchema | undefined>();
  const [invalid, setInvalid] = useState(false);
  const create = useMutation(
    trpc.flowRuns.create.mutationOptions({
      onSuccess: (run) => navigate(`/runs/${run.id}`),
      onError: (error) => setServerErrors(droverCode(error) === 'PARAMETERS_INVALID' ? toErrorSchema(errorIssues(error)) : undefined),
    }),
  );
  const submit = (parameters: Parameters) => {
    setServerErrors(undefined);
    create.mutate({ deployment: deployment.id, parameters });
  };
  return (
    <section className="run-form" aria-labelledby="run-form-heading">
      <h2 id="run-form-heading">
        Run {deployment.flowName}/{deployment.name}
      </h2>
      {schema ? (
        <Form
          schema={schema as RJSFSchema}
          validator={schemaValidator}
          formData={formData}
          onChange={(event) => setFormData(event.formData as Parameters)}
          onSubmit={(event) => {
            setInvalid(false);
            submit(event.formData as Parameters);
          }}
          onError={() => setInvalid(true)}
          extraErrors={serverErrors}
          showErrorList={false}
          noHtml5Validate
          disabled={create.isPending}
        >
          <button type="submit" className="primary" disabled={create.isPending}>
            Start run
          </button>
        </Form>
      ) : (
        <JsonParameters initial={deployment.parameters} pending={create.isPending} onSubmit={submit} />
      )}
      {invalid && (
        <p role="alert" className="error">
          Fix the fields marked above: nothing was sent.
        </p>
      )}
      <ErrorNote error={create.error} />
    </section>
  );
}

/** Without a schema any object goes: the parameters as JSON, checked to be an object before sending. */
function JsonParameters({ initial, pending, onSubmit }: { initial: Parameters; pending: boolean; onSubmit: (parameters: Parameters) => void }) {
  const [text, setText] = useState(JSON.stringify(initial, null, 2));
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (error) {
          setProblem(`Not JSON: ${(error as Error).message}`);
          return;
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          setProblem('Expected a JSON object of parameter names and values');
          return;
        }
        setProblem(null);
        onSubmit(value as Parameters);
      }}
    >
      <label>
        Parameters (JSON)
        <textarea rows={8} value={text} onChange={(event) => setText(event.target.value)} aria-invalid={problem !== null} aria-describedby="json-problem" />
      </label>
      {problem && (
        <p id="json-problem" role="alert" className="error">
          {problem}
        </p>
      )}
      <button type="submit" className="primary" disabled={pending}>
        Start run
      </button>
    </form>
  );
}

/** The server's `a.b: message` issues as the form's error tree, so each shows under its field. */
function toErrorSchema(issues: readonly { path: string; message: string }[]): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const issue of issues) {
    let node = root;
    for (const key of issue.path.split('.').filter(Boolean)) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    node.__errors = [...((node.__errors as string[] | undefined) ?? []), issue.message];
  }
  return root as ErrorSchema;
}
