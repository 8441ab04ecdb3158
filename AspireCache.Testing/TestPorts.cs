namespace AspireCache.Testing;

/// <summary>Free loopback ports for test hosts: the same rule as the AppHost's nodes.</summary>
public static class TestPorts
{
    public static int Free() => AspireCache.Hosting.LoopbackPorts.Free();
}
