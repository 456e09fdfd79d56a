export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface List<T> {
  items: T[];
  metadata?: { continue?: string };
}

export interface Project {
  name: string;
  displayName?: string;
  description?: string;
  creationTimestamp?: string;
  status?: string;
}

export interface ProjectList {
  items: Project[];
  totalCount?: number;
}

export interface Access {
  project: string;
  allowed: boolean;
  userRole?: string;
  canWrite?: boolean;
}

export interface RepoInput {
  url: string;
  branch?: string;
}
export interface RepoOutput {
  pushTo?: 'fork' | 'same' | 'none';
  targetBranch?: string;
  targetRepo?: string;
}
export interface Repo {
  input: RepoInput;
  output?: RepoOutput;
}

export type Phase = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Stopped';

export interface RepoStatus {
  repoIndex: number;
  status: 'pushed' | 'abandoned' | 'failed';
  branch?: string;
  commitSHA?: string;
  targetRepo?: string;
  pullRequestURL?: string;
  message?: string;
  error?: string;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
  numTurns?: number;
  totalCostUSD?: number;
  durationMs?: number;
}

export interface Session {
  metadata: ObjectMeta;
  spec: {
    prompt?: string;
    displayName?: string;
    repos?: Repo[];
    mainRepoIndex?: number;
    interactive?: boolean;
    timeout?: number;
    model?: string;
  };
  status?: {
    phase?: Phase;
    startTime?: string;
    completionTime?: string;
    error?: string;
    message?: string;
    results?: { summary?: string };
    usage?: Usage;
    repoStatuses?: RepoStatus[];
  };
}

export interface ProjectSettings {
  metadata?: ObjectMeta;
  spec: {
    defaultModel?: string;
    defaultTimeout?: number;
    maxTimeout?: number;
    allowedModels?: string[];
    runnerSecretsName?: string;
    [key: string]: unknown;
  };
}

export interface RunnerSecrets {
  secretName?: string;
  keys: string[];
}

export interface RfeStep {
  name: string;
  agent?: string;
  prompt?: string;
  dependsOn?: string[];
}
export interface RfeStepStatus {
  name: string;
  phase?: Phase;
  sessionName?: string;
  startTime?: string;
  completionTime?: string;
  message?: string;
}
export interface RfeWorkflow {
  metadata: ObjectMeta;
  spec: { title?: string; description?: string; steps?: RfeStep[] };
  status?: {
    phase?: Phase;
    steps?: RfeStepStatus[];
    currentSteps?: string[];
    message?: string;
    error?: string;
  };
}

// GET /api/ui/config as the server sends it.
export interface UiConfigReply {
  liveUrl: string;
  kinds: string[]; // the REST segments of the kinds loaded
}

export interface UiConfig {
  liveUrl: string;
  features: { rfeWorkflows: boolean };
}
