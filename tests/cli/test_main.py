import subprocess
import sys


def test_console_script_prints_help():
    result = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "k-means colour quantization" in result.stdout
