using AspireCache.Node.Raft.DotNextShims;

namespace AspireCache.Tests.Unit;

/// <summary>The DotNext shims were verified against one DotNext version; another must re-examine them.</summary>
public sealed class DotNextShimsTests
{
    [Fact]
    public void The_referenced_DotNext_is_the_version_every_shim_was_verified_against()
    {
        var cluster = typeof(DotNext.Net.Cluster.Consensus.Raft.RaftCluster<>).Assembly.GetName().Version;
        var aspNetCore = typeof(DotNext.Net.Cluster.Consensus.Raft.Http.ConfigurationExtensions).Assembly.GetName().Version;

        // If this fails, DotNext changed: read DotNextShimsExtensions' list, re-check each defect
        // against the new source (decompile it), keep or drop each shim, then update PinnedVersion.
        Assert.Equal(DotNextShimsExtensions.PinnedVersion, cluster);
        Assert.Equal(DotNextShimsExtensions.PinnedVersion, aspNetCore);
    }
}
