/**
 * A DNS server on a free UDP port that knows no name (NXDOMAIN for every question): a pool
 * discovered through it legitimately has no workers, as a headless Service scaled to zero does.
 * An empty static `targets` list is refused by the configuration, so this is how tests get a pool
 * of zero workers.
 */
import dns2 from 'dns2';

/** NXDOMAIN (RFC 1035 §4.1.1); dns2's typings do not declare its Packet.RCODE table. */
const NXDOMAIN = 3;

export async function emptyDnsServer(): Promise<{ server: string; close: () => Promise<void> }> {
  const { Packet } = dns2;
  const dns = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      response.header.rcode = NXDOMAIN;
      void send(response);
    },
  });
  const addresses = await dns.listen({ udp: { port: 0, address: '127.0.0.1' } });
  return { server: `127.0.0.1:${addresses.udp?.port ?? 0}`, close: () => dns.close() };
}

/** A pool's `discovery` through that server: zero workers, legitimately. */
export function emptyDiscovery(server: string): { dns: string; port: number; server: string } {
  return { dns: 'scaled-to-zero.llm.svc.cluster.local', port: 8000, server };
}
