using System.Net;
using System.Net.Sockets;

namespace AspireCache.AppHost;

/// <summary>Free loopback ports for the nodes (and the tests' hosts).</summary>
public static class LoopbackPorts
{
    /// <summary>
    /// A currently free port below every OS's ephemeral range (Linux 32768–60999, Windows/macOS
    /// 49152–65535): a port from that range can be taken as the source port of some outgoing
    /// connection while its node is stopped, and a restarted node must get its own port back (it
    /// is its Raft address).
    /// </summary>
    public static int Free()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20_000, 32_000);
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
