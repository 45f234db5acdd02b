import type { ParamDoc } from '../shared/actions/params.ts';
import { ACTIONS } from '../shared/actions/table.ts';

export interface ParameterInfo extends ParamDoc {
  name: string;
}

export interface ActionInfo {
  name: string;
  id: string;
  family: string;
  readOnly: boolean;
  /** What a non-read-only action changes. */
  changes?: 'Tanium' | 'the vault';
  description: string;
  parameters: ParameterInfo[];
}

/** The action table as plain data (for `tanium-tr actions --json` and the docs). */
export function actionInfos(): ActionInfo[] {
  return ACTIONS.map((action) => ({
    name: action.name,
    id: action.id,
    family: action.family,
    readOnly: action.readOnly,
    ...(action.readOnly ? {} : { changes: action.changesOnly === 'vault' ? 'the vault' : 'Tanium' }),
    description: action.description,
    parameters: Object.entries(action.params).map(([name, param]) => ({ name, ...param.doc })),
  }));
}

/** An integer parameter's accepted values, e.g. `0 to 900` or `1 or more`; empty for other types. */
export function rangeText(p: ParamDoc): string {
  if (p.min === undefined) return '';
  return p.max === undefined ? `${p.min} or more` : `${p.min} to ${p.max}`;
}

export function formatActions(infos: readonly ActionInfo[]): string {
  const lines: string[] = [];
  for (const info of infos) {
    lines.push(`${info.name} (${info.id}) [${info.family}${info.readOnly ? ', read-only' : ''}]`);
    lines.push(`  ${info.description}`);
    for (const p of info.parameters) {
      const extra = [
        p.required ? 'required' : 'optional',
        rangeText(p),
        p.default !== undefined ? `default ${p.default}` : '',
        p.values ? `one of ${p.values.join('|')}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      lines.push(`    --param ${p.name}=<${p.type}>  ${p.description} (${extra})`);
    }
  }
  return lines.join('\n');
}
