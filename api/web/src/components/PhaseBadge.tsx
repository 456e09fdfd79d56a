import { Badge } from './ui/badge';

const tones = {
  Pending: 'amber',
  Running: 'blue',
  Completed: 'green',
  Failed: 'red',
  Stopped: 'neutral',
} as const;

export function PhaseBadge({ phase }: { phase?: string }) {
  const p = phase ?? 'Pending';
  const tone = tones[p as keyof typeof tones] ?? 'neutral';
  return (
    <Badge tone={tone} data-phase={p}>
      {p}
    </Badge>
  );
}
