using AspireCache.Node.Storage;

namespace AspireCache.Tests.Unit;

public sealed class DataDirectoryLockTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aspirecache-lock-tests", Guid.NewGuid().ToString("N"));

    [Fact]
    public void A_second_holder_is_refused_with_a_clear_error_while_the_first_holds_the_directory()
    {
        using var first = DataDirectoryLock.Acquire(_directory, TimeSpan.Zero);

        var refused = Assert.Throws<InvalidOperationException>(() => DataDirectoryLock.Acquire(_directory, TimeSpan.FromMilliseconds(300)));

        Assert.Contains("in use by another process", refused.Message, StringComparison.Ordinal);
        Assert.Contains(_directory, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_starting_node_waits_for_the_previous_holder_to_let_go()
    {
        var first = DataDirectoryLock.Acquire(_directory, TimeSpan.Zero);
        var release = Task.Run(async () =>
        {
            await Task.Delay(500);
            first.Dispose();
        });

        using var second = DataDirectoryLock.Acquire(_directory, TimeSpan.FromSeconds(20));
        await release;

        Assert.True(second.Waited >= TimeSpan.FromMilliseconds(300), $"waited {second.Waited}");
    }

    [Fact]
    public void The_lock_is_free_again_once_released()
    {
        DataDirectoryLock.Acquire(_directory, TimeSpan.Zero).Dispose();

        using var again = DataDirectoryLock.Acquire(_directory, TimeSpan.Zero);

        Assert.True(again.Waited < TimeSpan.FromMilliseconds(100), $"waited {again.Waited}");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
