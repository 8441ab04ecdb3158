namespace AspireCache.Tests;

/// <summary>Free loopback ports for test hosts: the same rule as the AppHost's nodes.</summary>
internal static class TestPorts
{
    public static int Free() => AspireCache.AppHost.LoopbackPorts.Free();
}
