namespace AspireCache.AppHost;

/// <summary>
/// Free loopback ports (the tests' hosts use it): the same allocator as the cluster's nodes, so one
/// process never hands out a port twice.
/// </summary>
public static class LoopbackPorts
{
    /// <inheritdoc cref="AspireCache.Hosting.LoopbackPorts.Free"/>
    public static int Free() => AspireCache.Hosting.LoopbackPorts.Free();
}
