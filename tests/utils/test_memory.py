import platform

from resnet_det.utils.memory import release_free_memory


def test_freed_heap_pages_are_released_where_malloc_is_glibc():
    assert release_free_memory() is (platform.libc_ver()[0] == "glibc")
