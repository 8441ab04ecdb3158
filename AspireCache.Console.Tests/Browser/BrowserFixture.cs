using AspireCache.Console.Tests.Support;
using Microsoft.Playwright;

namespace AspireCache.Console.Tests.Browser;

/// <summary>
/// The cluster, router and console of <see cref="ConsoleClusterFixture"/>, plus headless Chromium from
/// Debian's package driven by Playwright (its own browser download is not reachable here). The browser
/// is found at <c>CHROMIUM_PATH</c> or <c>/usr/bin/chromium</c>; without it the tests fail and say how
/// to install it (<c>scripts/install-test-deps.sh</c>), they are never skipped silently.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string DefaultChromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public ConsoleClusterFixture Stack { get; } = new();

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots go in the test output (also copied to docs/images with ASPIRECACHE_UPDATE_SCREENSHOTS=1).</summary>
    public string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public static string ChromiumPath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : DefaultChromium;

    public async Task InitializeAsync()
    {
        var chromium = ChromiumPath;
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException(
                $"Chromium was not found at '{chromium}'. The console's browser test drives Debian's chromium package: " +
                "run scripts/install-test-deps.sh (apt-get install chromium), or set CHROMIUM_PATH to a Chromium executable.");
        }

        Directory.CreateDirectory(ScreenshotDirectory);
        await Stack.InitializeAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            // As root (CI, containers) Chromium's sandbox cannot start.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        await Stack.DisposeAsync();
    }

    /// <summary>A fresh browser context (its own cookies) on the console, 1400×900.</summary>
    public Task<IBrowserContext> NewContextAsync() => Browser.NewContextAsync(new BrowserNewContextOptions
    {
        BaseURL = Stack.Console.Url.ToString(),
        ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
    });

    /// <summary>
    /// Saves a full-page screenshot as <c>console-{name}.png</c> in the test output and, with
    /// <c>ASPIRECACHE_UPDATE_SCREENSHOTS=1</c>, in the repository's docs/images (the README's pictures),
    /// so that an ordinary test run leaves the working tree as it was.
    /// </summary>
    public async Task ScreenshotAsync(IPage page, string name)
    {
        var file = Path.Combine(ScreenshotDirectory, $"console-{name}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        if (Environment.GetEnvironmentVariable("ASPIRECACHE_UPDATE_SCREENSHOTS") == "1" && RepositoryRoot() is { } root)
        {
            var images = Path.Combine(root, "docs", "images");
            Directory.CreateDirectory(images);
            File.Copy(file, Path.Combine(images, Path.GetFileName(file)), overwrite: true);
        }
    }

    private static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AspireCache.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
