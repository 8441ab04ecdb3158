using System.Net;
using System.Net.Sockets;

namespace AspireCache.Hosting;

/// <summary>Free loopback ports for the nodes (and the tests' hosts).</summary>
public static class LoopbackPorts
{
    private const int First = 20_000;
    private const int End = 32_000;

    private static readonly object Gate = new();
    private static readonly HashSet<int> HandedOut = [];
    private static int _next = First + Random.Shared.Next(End - First);

    /// <summary>
    /// A currently free port below every OS's ephemeral range (Linux 32768–60999, Windows/macOS
    /// 49152–65535): a port from that range can be taken as the source port of some outgoing
    /// connection while its node is stopped, and a restarted node must get its own port back (it
    /// is its Raft address).
    /// </summary>
    /// <remarks>
    /// A port is handed out at most once per process. A probe only shows the port free at that
    /// instant: without this, two clusters starting in parallel could both be given one port, or
    /// a stopped node's port could be given to someone else and the node could not restart
    /// (seen in CI: "address already in use" on a test cluster's start).
    /// Ports are walked in order from a random start so that parallel processes rarely meet.
    /// </remarks>
    public static int Free()
    {
        lock (Gate)
        {
            for (var attempt = 0; attempt < End - First; attempt++)
            {
                var port = _next;
                _next = _next + 1 >= End ? First : _next + 1;
                if (!HandedOut.Contains(port) && IsFree(port))
                {
                    HandedOut.Add(port);
                    return port;
                }
            }
        }

        throw new InvalidOperationException($"No free loopback port in [{First}, {End}).");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
