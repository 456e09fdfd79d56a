import { fieldErrors } from '@/lib/api';
import { Button } from './ui/button';
import { Card, CardContent, CardHeader, CardTitle } from './ui/card';

/** A titled card holding one form (the create forms). */
export function FormCard({
  title,
  description,
  onSubmit,
  className = 'space-y-4',
  children,
}: {
  title: string;
  description?: string;
  onSubmit: () => void;
  className?: string;
  children: React.ReactNode;
}) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>{title}</CardTitle>
        {description && <p className="text-sm text-muted-foreground">{description}</p>}
      </CardHeader>
      <CardContent>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onSubmit();
          }}
          className={className}
          noValidate
        >
          {children}
        </form>
      </CardContent>
    </Card>
  );
}

/** Submit (disabled while busy) and Cancel. */
export function FormActions({
  label,
  busyLabel,
  busy,
  onCancel,
  className = 'flex gap-2',
}: {
  label: string;
  busyLabel: string;
  busy: boolean;
  onCancel: () => void;
  className?: string;
}) {
  return (
    <div className={className}>
      <Button type="submit" disabled={busy}>
        {busy ? busyLabel : label}
      </Button>
      <Button type="button" variant="outline" onClick={onCancel}>
        Cancel
      </Button>
    </div>
  );
}

/** A failed write: each field the server named, else its message. */
export function FormErrors({ error, className }: { error: unknown; className?: string }) {
  if (!error) return null;
  const fields = fieldErrors(error);
  return (
    <ul role="alert" className={`list-inside text-sm text-destructive ${className ?? ''}`}>
      {fields.length ? (
        fields.map((e) => <li key={e.field + e.message}>{`${e.field}: ${e.message}`}</li>)
      ) : (
        <li>{(error as Error).message}</li>
      )}
    </ul>
  );
}
