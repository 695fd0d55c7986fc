"""Checkers: getters read state out of an env, metrics compare it, under OSWorld's names; one explicit registry.

Where things live (a task file names getters and metrics by OSWorld's names; ``GETTERS[name].__module__`` and
``METRICS[name].__module__`` say where one is)::

    registry.py          the registry: name -> getter / metric, Score, CheckContext, an evaluator's checks
    evaluate.py          one evaluator run: its getters, its metrics, combined, within a time budget
    getters/             by what they read
      access.py          what every getter uses: config keys, the cache folder, files and Python in the env
      env_files.py       files: vm_file, cloud_file, local_file, cache_file, list_directory, content_from_vm_file
      vm_state.py        the desktop: vm_command_line/_error, vm_screen_size, vm_window_size, vm_wallpaper,
                         vm_terminal_output, accessibility_tree
      rules.py           the task's own data: rule, rule_relativeTime
      app_state.py       apps' settings and state: gimp_config_file, vscode_config, vlc_config, vlc_playing_info,
                         default_video_player
      chrome_profile.py  Chrome's profile: bookmarks, history, cookie_data, shortcuts_on_desktop, the Preferences
                         ones (enable_do_not_track, chrome_font_size, default_search_engine, ...)
      chrome_tabs.py     Chrome's tabs and URLs: open_tabs_info, active_tab_info, active_url_from_accessTree,
                         active_tab_url_parse, url_dashPart, url_path_parse
      chrome_pages.py    live pages: active_tab_html_parse, page_info, pdf_from_url, info_from_website, ...
      devtools.py        the DevTools client those drive Chrome with (devtools_page.py runs in the env)
      slide_media.py     a slide's files: audio_in_slide, background_image_in_slide
    metrics/             by how they compare
      scoring.py         what every metric uses: the rules, a file's text, similarity, the verdict
      values.py          values: exact_match, literal_match, is_in_list, fuzzy_match, check_direct_json_object, ...
      text.py            text files, code, mail: compare_text_file, diff_text_file, check_list, file_contains,
                         compare_python_pure_text, check_python_file_by_test_suite, check_thunderbird_folder, ...
      structured.py      JSON, YAML, SQLite, HTML: check_json, run_sqlite3, compare_htmls
      table.py           sheets and CSV: compare_table, compare_csv, check_csv, ... (read by spreadsheet.py,
                         sheet_parts.py, formula.py)
      documents.py       text documents: compare_docx_files, compare_line_spacing, compare_font_names, ...
      document_checks.py Writer's one-purpose checks: check_tabstops, check_highlighted_words, ...
      slides.py          presentations: compare_pptx_files, check_presenter_console_disable
      slide_checks.py    Impress's one-purpose checks: check_transition, check_page_number_colors, ...
      images.py          images: compare_images, the structure (SSIM) checks, check_image_size, ...
      media.py           audio and video: compare_audios, compare_videos, check_mp3_meta
      archives.py        PDFs and archives: compare_pdfs, check_pdf_pages, compare_epub, compare_archive, ...
      browser.py         URLs, tabs, bookmarks, Chrome's profile: is_expected_*, check_font_size, ...
      app_settings.py    apps' settings files: VS Code, GIMP, Thunderbird, VLC (check_qt_*, ...)
      os_state.py        the desktop: check_file_exists, exists_in_directory, the clipboard, the time zone,
                         check_accessibility_tree, is_vlc_playing, is_vlc_fullscreen, ...
      office.py          LibreOffice's conversions and saved settings, for the document, slide and table metrics

A metric sees only the values getters hand it and imports nothing of ``getters/``; a getter that hands over a piece
of a file reads it with the metrics' reader of that format (a sheet's rows, a slide's parts, the accessibility
tree's namespaces). Importing the package registers every getter and metric.
"""

from step_envs.checkers import getters, metrics  # noqa: F401 - register every getter and metric
from step_envs.checkers.evaluate import evaluate
from step_envs.checkers.registry import (
    GETTERS,
    METRICS,
    CheckContext,
    Score,
    UnknownCheckerError,
    get_getter,
    get_metric,
    getter,
    metric,
    validate_evaluator,
)

__all__ = [
    "GETTERS",
    "METRICS",
    "CheckContext",
    "Score",
    "UnknownCheckerError",
    "evaluate",
    "get_getter",
    "get_metric",
    "getter",
    "metric",
    "validate_evaluator",
]
