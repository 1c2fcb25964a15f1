/**
 * The panel's Registry section: registered models, their newest versions with their aliases,
 * each alias's policy state (what is missing before the alias may point at the version), and
 * an Approve button for users who hold an approving role. The server checks the role again
 * and signs the approval with the server user's key.
 */
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';

import { IApproveReply, IRegistryReply, IRegistryVersion } from './api';
import { h } from './dom';
import { endpoint, requestAPI } from './request';

/** Ask for a comment, then approve `name@version`; resolves true when it was recorded. */
async function approve(name: string, version: number): Promise<boolean> {
  const answer = await InputDialog.getText({
    title: `Approve ${name}@${version}`,
    label: 'What did you check? (recorded and signed with your key)',
    okLabel: 'Approve'
  });
  if (!answer.button.accept) {
    return false;
  }
  try {
    await requestAPI<IApproveReply>(endpoint('approve'), {
      method: 'POST',
      body: JSON.stringify({ name, version, comment: answer.value ?? '' })
    });
    return true;
  } catch (error) {
    await showErrorMessage('Approval refused', String((error as Error).message ?? error));
    return false;
  }
}

function renderVersion(
  name: string,
  version: IRegistryVersion,
  reply: IRegistryReply,
  onChange: () => void
): HTMLElement {
  const item = h('li', 'nbtrail-version');
  item.dataset.version = String(version.version);
  const head = h('div', 'nbtrail-version-head');
  head.appendChild(h('span', 'nbtrail-run-name', `v${version.version}`));
  for (const alias of version.aliases) {
    head.appendChild(h('span', 'nbtrail-alias', alias));
  }
  head.appendChild(h('span', 'nbtrail-muted', `by ${version.registered_by}`));
  item.appendChild(head);
  for (const state of version.policy) {
    const line = h('div', 'nbtrail-policy');
    line.dataset.alias = state.alias;
    line.dataset.satisfied = String(state.satisfied);
    const badge = state.satisfied ? 'pass' : 'fail';
    line.appendChild(h('span', `nbtrail-badge nbtrail-badge-${badge}`, state.alias));
    const text = state.satisfied ? 'policy met' : state.missing.join('; ');
    line.appendChild(h('span', 'nbtrail-alert-summary', text));
    item.appendChild(line);
  }
  if (version.approvals.length) {
    item.appendChild(
      h('div', 'nbtrail-muted nbtrail-approvals', `approved by ${version.approvals.join(', ')}`)
    );
  }
  const user = reply.user;
  if (user.can_approve && !version.approvals.includes(user.name)) {
    const button = h('button', 'jp-mod-styled nbtrail-approve', 'Approve');
    button.title = `Approve ${name}@${version.version} as ${user.name} (${user.roles.join(', ')})`;
    button.addEventListener('click', () => {
      void approve(name, version.version).then(done => done && onChange());
    });
    item.appendChild(button);
  }
  return item;
}

/** Draw the registry into `list`; `onChange` after an approval is recorded. */
export function renderRegistry(
  list: HTMLElement,
  reply: IRegistryReply | null,
  onChange: () => void
): void {
  list.textContent = '';
  if (!reply || !reply.models.length) {
    list.appendChild(
      h('li', 'nbtrail-empty', 'No registered model (nbtrail registry register MODEL --name NAME).')
    );
    return;
  }
  list.dataset.user = reply.user.name;
  list.dataset.canApprove = String(reply.user.can_approve);
  for (const model of reply.models) {
    const item = h('li', 'nbtrail-model');
    item.dataset.name = model.name;
    item.appendChild(h('div', 'nbtrail-check-name', model.name));
    const versions = h('ul', 'nbtrail-version-list');
    for (const version of model.versions) {
      versions.appendChild(renderVersion(model.name, version, reply, onChange));
    }
    item.appendChild(versions);
    list.appendChild(item);
  }
}
