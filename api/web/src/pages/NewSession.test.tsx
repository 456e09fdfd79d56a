import { sessionBody } from './NewSession';

describe('sessionBody', () => {
  it('sends the bare spec with repos, outputs and only what was filled in', () => {
    expect(
      sessionBody({
        prompt: 'do it',
        displayName: ' ',
        model: 'm',
        timeout: '600',
        interactive: true,
        repos: [
          { url: 'https://g/o/r', branch: 'main', pushTo: 'same', targetBranch: 'out' },
          { url: 'https://g/o/lib', branch: '', pushTo: 'none', targetBranch: 'ignored' },
          { url: ' ', branch: '', pushTo: 'none', targetBranch: '' },
        ],
      }),
    ).toEqual({
      prompt: 'do it',
      model: 'm',
      timeout: 600,
      interactive: true,
      repos: [
        { input: { url: 'https://g/o/r', branch: 'main' }, output: { pushTo: 'same', targetBranch: 'out' } },
        { input: { url: 'https://g/o/lib' } },
      ],
    });
  });
});
