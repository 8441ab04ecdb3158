using System.Net;
using System.Net.Sockets;

namespace AspireCache.Client.Tests.Infrastructure;

/// <summary>
/// Free loopback ports below the OS ephemeral range, each handed out once per process (the rule of
/// AspireCache.AppHost's LoopbackPorts, copied so this project need not reference the AppHost).
/// </summary>
internal static class TestPorts
{
    private const int First = 20_000;
    private const int End = 32_000;
    private static readonly object Gate = new();
    private static readonly HashSet<int> HandedOut = [];
    private static int _next = First + Random.Shared.Next(End - First);

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
