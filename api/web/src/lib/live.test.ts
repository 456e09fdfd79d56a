import { base64url, streamUrl, subprotocols } from './live';

describe('the live stream', () => {
  it('puts the token in the subprotocol, never in the URL', () => {
    const url = streamUrl('http://127.0.0.1:8081', 'p', 's', 42);
    expect(url).toBe('ws://127.0.0.1:8081/api/projects/p/agentic-sessions/s/ws?after=42');
    expect(url).not.toContain('secret');
    expect(subprotocols('secret+/=')).toEqual(['ambient.v1', `bearer.${base64url('secret+/=')}`]);
    expect(base64url('secret+/=')).not.toMatch(/[+/=]/);
    expect(subprotocols(null)).toEqual(['ambient.v1']);
  });

  it('uses the page origin when the live service shares it', () => {
    expect(streamUrl('', 'p', 's', 0)).toBe(`${window.location.origin.replace(/^http/, 'ws')}/api/projects/p/agentic-sessions/s/ws`);
    expect(streamUrl('https://live.example', 'p', 's', 0)).toMatch(/^wss:\/\/live.example\//);
  });
});
