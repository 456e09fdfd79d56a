import * as React from 'react';
import { cva, type VariantProps } from 'class-variance-authority';
import { cn } from '@/lib/cn';

const badgeVariants = cva('inline-flex items-center rounded-full border px-2 py-0.5 text-xs font-semibold', {
  variants: {
    tone: {
      neutral: 'border-slate-300 bg-slate-100 text-slate-800',
      blue: 'border-blue-300 bg-blue-50 text-blue-800',
      green: 'border-green-300 bg-green-50 text-green-800',
      red: 'border-red-300 bg-red-50 text-red-800',
      amber: 'border-amber-300 bg-amber-50 text-amber-900',
    },
  },
  defaultVariants: { tone: 'neutral' },
});

export function Badge({
  className,
  tone,
  ...props
}: React.HTMLAttributes<HTMLSpanElement> & VariantProps<typeof badgeVariants>) {
  return <span className={cn(badgeVariants({ tone }), className)} {...props} />;
}
