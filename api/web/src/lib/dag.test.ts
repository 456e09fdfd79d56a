import { layers } from './dag';

describe('layers', () => {
  it('puts parallel branches of a diamond side by side', () => {
    const cols = layers([
      { name: 'ideate' },
      { name: 'pm', dependsOn: ['ideate'] },
      { name: 'arch', dependsOn: ['ideate'] },
      { name: 'review', dependsOn: ['pm', 'arch'] },
    ]);
    expect(cols.map((c) => c.map((s) => s.name))).toEqual([['ideate'], ['pm', 'arch'], ['review']]);
  });

  it('survives a cycle and unknown dependencies', () => {
    const cols = layers([{ name: 'a', dependsOn: ['b'] }, { name: 'b', dependsOn: ['a'] }, { name: 'c', dependsOn: ['zz'] }]);
    expect(cols.flat().map((s) => s.name).sort()).toEqual(['a', 'b', 'c']);
  });
});
