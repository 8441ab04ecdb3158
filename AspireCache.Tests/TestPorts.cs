using System.Net;
using System.Net.Sockets;

namespace AspireCache.Tests;

/// <summary>Free loopback ports for test hosts.</summary>
internal static class TestPorts
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
